"""Ways into the trail from application code: auditor, logging, structlog, pytest."""

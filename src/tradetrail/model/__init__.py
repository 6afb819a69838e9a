"""What a record says: the event models, redaction and the bound context."""

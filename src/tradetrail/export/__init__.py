"""Exports of the trail for examiners: the daily pack (`tradetrail export daily`)."""

from __future__ import annotations

from ..core.packtables import DayTables, FileInfo, neutralise
from .daily import PackError, PackResult, export_daily

__all__ = ["DayTables", "FileInfo", "PackError", "PackResult", "export_daily", "neutralise"]

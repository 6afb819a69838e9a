"""Exports of the trail for examiners: the daily pack (`tradetrail export daily`)."""

from __future__ import annotations

from .daily import PackError, PackResult, export_daily
from .tables import DayTables, FileInfo, neutralise

__all__ = ["DayTables", "FileInfo", "PackError", "PackResult", "export_daily", "neutralise"]

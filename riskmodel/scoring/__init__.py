"""Batch scoring (shipments, channels, reasons)."""

"""Duty rotas, pages and alerts: the desk that wakes someone (docs/alerts.md)."""

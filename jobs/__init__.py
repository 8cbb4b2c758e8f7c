"""Scheduling: the daemon that keeps a site published. Only this package imports apscheduler."""

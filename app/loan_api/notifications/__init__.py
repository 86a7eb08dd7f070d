"""Notifications: the invite e-mail. Public surface: ``service`` (``was_invited``)."""

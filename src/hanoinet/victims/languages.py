"""The languages a victim's status page speaks, apart from the cases so that the CLI lists them without the ORM."""

from __future__ import annotations

#: Languages of the status page: the six official languages of the United Nations, and Vietnamese.
LANGUAGES = ("ar", "en", "es", "fr", "ru", "vi", "zh")

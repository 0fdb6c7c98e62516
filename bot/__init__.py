"""alertbot: a bilingual (Dutch/English) privacy-news and regulatory alert bot.

Feeds are polled, articles classified by a keyword classifier, and digests posted to
Telegram channels. See README.md for the commands and the configuration reference.
"""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/privacy-alerts/alertbot"
USER_AGENT = f"alertbot/{__version__} (+{PROJECT_URL})"

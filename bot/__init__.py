"""alertbot: a bilingual (Dutch/English) privacy-news and regulatory alert bot.

Feeds are polled, articles classified by a keyword classifier, and digests posted to
Telegram channels. See README.md for the commands and the configuration reference.
"""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/privacy-alerts/alertbot"
USER_AGENT = f"alertbot/{__version__} (+{PROJECT_URL})"


def console() -> int:
    """The `alertbot` command and `python -m bot`: bot.cli.main() in a process of its own.

    Here, not in bot.cli, so that the console script imports next to nothing: parse worker
    processes are spawned, and a spawned process runs the parent's main script again (as
    __mp_main__, without calling this). Importing bot.cli there would load the Telegram
    client and the store into every worker for nothing (0.5 s of CPU each, measured)."""
    from bot.cli import main
    from bot.ingest import tune_gc
    tune_gc()  # what is loaded now lives as long as the process (tests call main() instead)
    return main()

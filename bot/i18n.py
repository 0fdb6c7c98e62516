"""What the bot says in answer to commands, in Dutch and English.

Texts are Telegram HTML (shared/telegram.md): the caller escapes every value it puts in with
`digest.escape`. `text(language, key, **values)`; an unknown language falls back to English.
`language_of` turns Telegram's `language_code` ("nl", "nl-BE", "en-GB", ...) into ours; the
languages are config.LANGUAGES.
"""

from __future__ import annotations

DEFAULT = "en"

# (command, Dutch description, English description): what setMyCommands registers.
PUBLIC_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("latest", "Het nieuwste privacynieuws: /latest [onderwerp] [aantal]",
     "The newest privacy news: /latest [topic] [count]"),
    ("search", "Zoek in opgeslagen artikelen: /search woorden", "Search stored articles: "
     "/search words"),
    ("why", "Waarom een bericht is gekozen: /why link-of-nummer",
     "Why a story was picked: /why link-or-number"),
    ("topics", "Kies onderwerpen voor deze chat", "Choose topics for this chat"),
    ("subscribe", "Volg onderwerpen: /subscribe onderwerp…", "Follow topics: /subscribe topic…"),
    ("unsubscribe", "Stop met volgen: /unsubscribe onderwerp…",
     "Stop following: /unsubscribe topic…"),
    ("languages", "Taal van de artikelen: /languages nl en", "Article languages: /languages nl en"),
    ("digest", "Wanneer de digest komt: /digest daily 08:00",
     "When the digest comes: /digest daily 08:00"),
    ("language", "Taal van de bot: /language nl of en", "The bot's language: /language nl or en"),
    ("help", "Wat deze bot doet", "What this bot does"),
)
ADMIN_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("status", "Gezondheid van de feeds (beheerders)", "Feed health (admins)"),
    ("feeds", "De lijst met feeds (beheerders)", "The feed list (admins)"),
)

_SCHEDULES = {
    "nl": "<code>daily 08:00</code>, <code>weekdays 07:30</code>, <code>mon,thu 09:00</code>, "
          "<code>every 4 hours</code> of <code>off</code>",
    "en": "<code>daily 08:00</code>, <code>weekdays 07:30</code>, <code>mon,thu 09:00</code>, "
          "<code>every 4 hours</code> or <code>off</code>",
}

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "help": (
            "<b>Privacynieuws-bot</b>\n"
            "Ik volg Nederlands- en Engelstalig technieuws en kies de berichten over "
            "wijzigingen in privacybeleid en over privacywetgeving en -toezicht.\n\n"
            "<b>Lezen</b>\n"
            "/latest [onderwerp] [aantal] — het nieuwste relevante nieuws\n"
            "/search woorden — zoek in de opgeslagen artikelen\n"
            "/why link-of-nummer — waarom een bericht is gekozen\n\n"
            "<b>Deze chat abonneren</b>\n"
            "/topics — kies onderwerpen met knoppen\n"
            "/subscribe onderwerp… — volg onderwerpen (of <code>all</code>)\n"
            "/unsubscribe onderwerp… — stop met volgen (of <code>all</code>)\n"
            "/languages nl en — de talen van de artikelen\n"
            "/digest daily 08:00 — wanneer de digest komt\n"
            "/language nl|en — de taal waarin ik antwoord\n\n"
            "In groepen en kanalen wijzigen alleen beheerders de instellingen."),
        "start": "Hallo! {state}\n\n{help}",
        "state_none": "Deze chat volgt nog geen onderwerpen.",
        "state_on": ("Deze chat volgt: {topics}. Talen: {languages}. Digest: "
                     "<code>{digest}</code> ({timezone})."),
        "state_paused": "De digest staat uit (<code>off</code>): kies een tijd met /digest.",
        "not_admin": "Alleen beheerders van deze chat kunnen de instellingen wijzigen.",
        "no_user": "Ik kan niet zien wie dit vraagt; stuur het commando als gebruiker.",
        "admin_only": "Sorry, dit commando is alleen voor de beheerders van deze bot.",
        "unknown_topics": "Onbekend onderwerp: {unknown}. Kies uit: {known}",
        "subscribe_usage": ("Gebruik: <code>/subscribe onderwerp…</code> of "
                            "<code>/subscribe all</code>. Onderwerpen: {known}"),
        "unsubscribe_usage": ("Gebruik: <code>/unsubscribe onderwerp…</code> of "
                              "<code>/unsubscribe all</code>."),
        "subscribed": "Deze chat volgt nu: {topics}. Digest: <code>{digest}</code> ({timezone}).",
        "unsubscribed_all": "Deze chat volgt geen onderwerpen meer en krijgt geen digest meer.",
        "unsubscribed": "Deze chat volgt nu: {topics}.",
        "topics_title": "Onderwerpen voor deze chat. Tik om aan of uit te zetten.",
        "topic_on": "{topic}: aan",
        "topic_off": "{topic}: uit",
        "languages_usage": ("Gebruik: <code>/languages nl en</code>, <code>/languages nl</code> "
                            "of <code>/languages en</code>. Nu: {languages}."),
        "languages_set": "Artikelen in: {languages}.",
        "bad_language": "Onbekende taal: {value}. Kies <code>nl</code> en/of <code>en</code>.",
        "digest_usage": "De digest komt nu: <code>{digest}</code> ({timezone}). Wijzig met "
                        "bijvoorbeeld " + _SCHEDULES["nl"] + ".",
        "digest_set": "De digest komt voortaan: <code>{digest}</code> ({timezone}).",
        "digest_off": "De digest staat uit. Zet hem weer aan met bijvoorbeeld "
                      "<code>/digest daily 08:00</code>.",
        "digest_needs_topics": "Kies nog onderwerpen met /topics of /subscribe.",
        "bad_schedule": "Dat schema ken ik niet: <code>{value}</code>. Gebruik " +
                        _SCHEDULES["nl"] + ".",
        "language_usage": "Gebruik: <code>/language nl</code> of <code>/language en</code>.",
        "language_set": "Ik antwoord in deze chat voortaan in het Nederlands.",
        "latest_usage": ("Gebruik: <code>/latest [onderwerp] [aantal]</code>, bijvoorbeeld "
                         "<code>/latest biometrics 5</code>. Aantal: 1 tot {max}."),
        "latest_none": "Nog geen relevante berichten{topic}.",
        "latest_title": "<b>Nieuwste privacynieuws{topic}</b>",
        "search_usage": "Gebruik: <code>/search woorden</code>, bijvoorbeeld "
                        "<code>/search gezichtsherkenning</code>.",
        "search_none": "Niets gevonden voor {query}.",
        "search_bad": "Die zoekopdracht begrijp ik niet. Probeer gewone woorden, zonder tekens.",
        "search_title": "<b>Gevonden voor {query}</b>",
        "why_usage": ("Gebruik: <code>/why 123</code> (het nummer uit /latest of /search) of "
                      "<code>/why https://…</code>."),
        "why_unknown": "Dat artikel heb ik niet opgeslagen.",
        "why_bad_link": "Dat is geen geldige link. Gebruik: <code>/why https://…</code>.",
        "why_relevant": "Relevant: <b>ja</b> (score {score})",
        "why_irrelevant": "Relevant: <b>nee</b> (score {score})",
        "why_topics": "Onderwerpen",
        "why_cues": "Aanwijzingen voor relevantie",
        "why_against": "Aanwijzingen tegen",
        "why_entities": "Genoemd",
        "why_effective": "Gaat in op {date}",
        "why_none": "geen",
        "feeds_title": "<b>Feeds</b> ({count})",
        "feed_disabled": "uit",
        "error": "Er ging iets mis bij dit commando. Probeer het later nog eens.",
        "all": "alle onderwerpen",
    },
    "en": {
        "help": (
            "<b>Privacy news bot</b>\n"
            "I follow Dutch and English tech news and pick out the stories about changes to "
            "privacy policies and about privacy regulation.\n\n"
            "<b>Read</b>\n"
            "/latest [topic] [count] — the newest relevant stories\n"
            "/search words — search the stored articles\n"
            "/why link-or-number — why a story was picked\n\n"
            "<b>Subscribe this chat</b>\n"
            "/topics — choose topics with buttons\n"
            "/subscribe topic… — follow topics (or <code>all</code>)\n"
            "/unsubscribe topic… — stop following (or <code>all</code>)\n"
            "/languages nl en — the languages of the articles\n"
            "/digest daily 08:00 — when the digest comes\n"
            "/language nl|en — the language I answer in\n\n"
            "In groups and channels only admins change the settings."),
        "start": "Hello! {state}\n\n{help}",
        "state_none": "This chat follows no topics yet.",
        "state_on": ("This chat follows: {topics}. Languages: {languages}. Digest: "
                     "<code>{digest}</code> ({timezone})."),
        "state_paused": "The digest is off (<code>off</code>): pick a time with /digest.",
        "not_admin": "Only admins of this chat can change its settings.",
        "no_user": "I can't tell who is asking; send the command as a user.",
        "admin_only": "Sorry, this command is only for the bot's administrators.",
        "unknown_topics": "Unknown topic: {unknown}. Choose from: {known}",
        "subscribe_usage": ("Usage: <code>/subscribe topic…</code> or "
                            "<code>/subscribe all</code>. Topics: {known}"),
        "unsubscribe_usage": ("Usage: <code>/unsubscribe topic…</code> or "
                              "<code>/unsubscribe all</code>."),
        "subscribed": "This chat now follows: {topics}. Digest: <code>{digest}</code> "
                      "({timezone}).",
        "unsubscribed_all": "This chat follows no topics any more and gets no digest.",
        "unsubscribed": "This chat now follows: {topics}.",
        "topics_title": "Topics for this chat. Tap to turn one on or off.",
        "topic_on": "{topic}: on",
        "topic_off": "{topic}: off",
        "languages_usage": ("Usage: <code>/languages nl en</code>, <code>/languages nl</code> "
                            "or <code>/languages en</code>. Now: {languages}."),
        "languages_set": "Articles in: {languages}.",
        "bad_language": "Unknown language: {value}. Choose <code>nl</code> and/or <code>en</code>.",
        "digest_usage": "The digest comes: <code>{digest}</code> ({timezone}). Change it with "
                        "e.g. " + _SCHEDULES["en"] + ".",
        "digest_set": "From now on the digest comes: <code>{digest}</code> ({timezone}).",
        "digest_off": "The digest is off. Turn it back on with e.g. "
                      "<code>/digest daily 08:00</code>.",
        "digest_needs_topics": "Now choose topics with /topics or /subscribe.",
        "bad_schedule": "I don't know that schedule: <code>{value}</code>. Use " +
                        _SCHEDULES["en"] + ".",
        "language_usage": "Usage: <code>/language nl</code> or <code>/language en</code>.",
        "language_set": "From now on I answer in English in this chat.",
        "latest_usage": ("Usage: <code>/latest [topic] [count]</code>, e.g. "
                         "<code>/latest biometrics 5</code>. Count: 1 to {max}."),
        "latest_none": "No relevant stories yet{topic}.",
        "latest_title": "<b>Latest privacy news{topic}</b>",
        "search_usage": "Usage: <code>/search words</code>, e.g. "
                        "<code>/search facial recognition</code>.",
        "search_none": "Nothing found for {query}.",
        "search_bad": "I don't understand that search. Try plain words, without symbols.",
        "search_title": "<b>Found for {query}</b>",
        "why_usage": ("Usage: <code>/why 123</code> (the number from /latest or /search) or "
                      "<code>/why https://…</code>."),
        "why_unknown": "I have not stored that article.",
        "why_bad_link": "That is not a valid link. Usage: <code>/why https://…</code>.",
        "why_relevant": "Relevant: <b>yes</b> (score {score})",
        "why_irrelevant": "Relevant: <b>no</b> (score {score})",
        "why_topics": "Topics",
        "why_cues": "Relevance cues",
        "why_against": "Cues against",
        "why_entities": "Mentioned",
        "why_effective": "Takes effect {date}",
        "why_none": "none",
        "feeds_title": "<b>Feeds</b> ({count})",
        "feed_disabled": "off",
        "error": "Something went wrong with this command. Please try again later.",
        "all": "all topics",
    },
}


def language_of(code: str | None) -> str:
    """Telegram's IETF `language_code` ('nl', 'nl-BE', 'en-GB') -> 'nl' or 'en'."""
    if code and code.lower().split("-")[0] == "nl":
        return "nl"
    return DEFAULT


def text(language: str, key: str, **values: object) -> str:
    table = TEXTS.get(language, TEXTS[DEFAULT])
    return table[key].format(**values) if values else table[key]

"""Deterministic synthetic text for the benchmarks: customer-support style prose with
topical vocabulary, so sentences about one topic resemble each other the way a real
knowledge base does (which matters for embeddings and nearest-neighbour structure)."""
from __future__ import annotations

import random

TOPICS: dict[str, list[str]] = {
    "billing": ["invoice", "refund", "payment", "credit card", "subscription", "receipt",
                "charge", "billing cycle", "VAT", "discount", "plan", "upgrade"],
    "shipping": ["parcel", "courier", "tracking number", "delivery", "warehouse", "customs",
                 "express shipping", "pickup point", "address", "package", "carrier"],
    "returns": ["return label", "exchange", "damaged item", "warranty", "repair", "restocking",
                "return window", "original packaging", "store credit", "replacement"],
    "account": ["password", "login", "two-factor code", "email address", "profile",
                "username", "security question", "account recovery", "session", "device"],
    "product": ["battery", "firmware", "charger", "screen", "bluetooth", "app", "sensor",
                "calibration", "update", "accessory", "manual", "settings"],
    "hotel": ["reservation", "check-in", "room", "breakfast", "spa", "late checkout",
              "parking", "minibar", "concierge", "shuttle", "pool", "suite"],
    "insurance": ["policy", "claim", "premium", "deductible", "coverage", "beneficiary",
                  "adjuster", "renewal", "quote", "accident report"],
    "software": ["API key", "webhook", "rate limit", "dashboard", "integration", "export",
                 "permission", "workspace", "audit log", "single sign-on", "token"],
    "banking": ["transfer", "overdraft", "savings account", "interest rate", "statement",
                "debit card", "loan", "mortgage", "branch", "wire"],
    "travel": ["flight", "boarding pass", "baggage allowance", "layover", "seat",
               "itinerary", "visa", "lounge", "cancellation", "travel insurance"],
}
VERBS = ["update", "cancel", "request", "check", "change", "confirm", "reset", "review",
         "renew", "download", "activate", "report", "schedule", "transfer", "verify"]
ADJ = ["new", "previous", "monthly", "annual", "free", "premium", "standard", "international",
       "temporary", "automatic", "digital", "physical", "shared", "personal"]
TIMES = ["within 24 hours", "in three to five business days", "before the end of the month",
         "at any time", "during office hours", "after confirmation", "the same day",
         "within 14 days", "once a year", "immediately"]
PEOPLE = ["customers", "guests", "members", "account owners", "administrators", "travellers",
          "policy holders", "users", "agents", "subscribers"]
TEMPLATES = [
    "{People} can {verb} the {adj} {a} {time} from the {b} page.",
    "To {verb} your {a}, open {b} and follow the steps shown.",
    "The {adj} {a} is linked to the {b} and cannot be changed {time}.",
    "If the {a} does not arrive {time}, contact support with your {b}.",
    "We {verb} every {a} {time}, and {people} receive a copy of the {b}.",
    "Your {a} may be {verb}ed automatically when the {adj} {b} expires.",
    "A {adj} {a} costs more than the {b}, but {people} can {verb} it {time}.",
    "Note that the {a} and the {b} are handled by different teams.",
    "{People} often ask whether the {adj} {a} includes the {b}.",
    "Please {verb} the {a} before you {verb2} the {adj} {b}.",
]
QUESTIONS = [
    "How do I {verb} my {a}?",
    "Can I {verb} the {adj} {a} {time}?",
    "What happens to my {a} if I {verb} the {b}?",
    "Where do I find the {b} for my {a}?",
    "Is the {a} included with the {adj} {b}?",
]


def _fill(rng: random.Random, template: str, topic: str | None = None) -> str:
    topic = topic or rng.choice(list(TOPICS))
    words = TOPICS[topic]
    a, b = rng.sample(words, 2)
    people = rng.choice(PEOPLE)
    return template.format(People=people.capitalize(), people=people, verb=rng.choice(VERBS),
                           verb2=rng.choice(VERBS), adj=rng.choice(ADJ), a=a, b=b,
                           time=rng.choice(TIMES))


def sentence(rng: random.Random, topic: str | None = None) -> str:
    return _fill(rng, rng.choice(TEMPLATES), topic)


def question(rng: random.Random, topic: str | None = None) -> str:
    return _fill(rng, rng.choice(QUESTIONS), topic)


def paragraph(rng: random.Random, sentences: tuple[int, int] = (4, 9)) -> str:
    """A paragraph mostly about one topic (a few sentences stray, as real ones do)."""
    topic = rng.choice(list(TOPICS))
    n = rng.randint(*sentences)
    return " ".join(sentence(rng, topic if rng.random() < 0.8 else None) for _ in range(n))


def paragraphs(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [paragraph(rng) for _ in range(n)]


def sentences(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]


def questions(n: int, seed: int = 13) -> list[str]:
    rng = random.Random(seed)
    return [question(rng) for _ in range(n)]

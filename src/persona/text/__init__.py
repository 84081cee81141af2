"""Review text: sentiment (English and Chinese), keywords and aspects, product and customer signals.

The sentiment weights ship inside the package (``persona/text/weights``); nothing is downloaded.
"""

from persona.text.keywords import aspect_sentiment, product_keywords
from persona.text.language import detect_language, detect_languages
from persona.text.reviews import customer_sentiment, product_quality, score_frame, score_reviews
from persona.text.sentiment import SentimentModel, load_default, predict_labels, score_texts
from persona.text.tokenize import tokenize, tokenize_en, tokenize_zh

__all__ = [
    "SentimentModel",
    "aspect_sentiment",
    "customer_sentiment",
    "detect_language",
    "detect_languages",
    "load_default",
    "predict_labels",
    "product_keywords",
    "product_quality",
    "score_frame",
    "score_reviews",
    "score_texts",
    "tokenize",
    "tokenize_en",
    "tokenize_zh",
]

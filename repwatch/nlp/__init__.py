"""Understanding review texts: language and sentiment (issue 4)."""

from repwatch.nlp.language import detect_language, detect_languages
from repwatch.nlp.sentiment import Sentiment, analyse, analyse_many, combine_with_rating

__all__ = [
    "Sentiment",
    "analyse",
    "analyse_many",
    "combine_with_rating",
    "detect_language",
    "detect_languages",
]

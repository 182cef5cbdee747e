"""Language of a review: "zh", "en" or "other", from script counts and stop-word evidence.

Built for short, noisy review texts where statistical detectors are unreliable: a Chinese
review often quotes an English product name, an English one may contain a Chinese dish.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
# Scripts that are never zh or en: Hangul, Cyrillic, Greek, Arabic, Hebrew, Indic, Thai.
_OTHER_SCRIPT = re.compile(
    r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\u0400-\u04ff\u0370-\u03ff"
    r"\u0600-\u06ff\u0590-\u05ff\u0900-\u0dff\u0e00-\u0e7f]"
)
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z]+)?")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_ACCENTED = re.compile(r"[\u00c0-\u00ff\u0152\u0153]")


def _word_set(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


_ENGLISH = _word_set(
    "a an the and or but if of to in on at for with from by about as into than then so very",
    "too not no is are was were be been being am do does did doesn't don't didn't isn't",
    "wasn't won't can't it it's its this that these those there here i i'm i've me my we our",
    "you your he she they them their what which who when where why how all any some just",
    "only also would could should will can has have had after before because really",
)
# Frequent function words of other Latin-script languages that are not also English words.
_OTHER_LATIN = (
    _word_set(
        # French
        "le la les un une des du est et pas très avec pour dans sur mais qui que ce cette sont",
        "je nous vous ils elle c'est n'est j'ai bien trop été être",
        # German
        "der das und ist nicht ein eine mit für sehr auf ich sie wir es zu den dem des auch",
        "aber sind haben gut schlecht kein keine nur noch",
        # Spanish, Portuguese, Italian
        "el los las es y muy con por para pero que una del está bueno malo",
        "não é muito com uma che non sono della molto",
    )
    - _ENGLISH
)

_HAN_PER_STOP_WORD = 2  # Han characters that outweigh one English function word
_KANA_SHARE = 0.2  # kana share of Han+kana above which the text is Japanese


def detect_language(text: str | None) -> str:
    """ "zh", "en" or "other" for one text; empty, emoji- or punctuation-only text is "other"."""
    if not text:
        return "other"
    text = _URL.sub(" ", text)
    han = len(_HAN.findall(text))
    kana = len(_KANA.findall(text))
    other_script = len(_OTHER_SCRIPT.findall(text))
    words = [word.lower() for word in _LATIN_WORD.findall(text)]
    latin_letters = sum(len(word) for word in words)

    if kana >= 2 and kana >= _KANA_SHARE * (han + kana):
        return "other"
    if other_script > han and other_script > latin_letters:
        return "other"
    if han:
        english_evidence = sum(word in _ENGLISH for word in words)
        # Product names carry no function words; English sentences around a Chinese word do.
        if han >= _HAN_PER_STOP_WORD * english_evidence and 2 * han >= len(words):
            return "zh"
    if not words:
        return "other"
    english = sum(word in _ENGLISH for word in words)
    foreign = sum(word in _OTHER_LATIN for word in words) + len(_ACCENTED.findall(text))
    return "other" if foreign > english else "en"


def detect_languages(texts: Iterable[str | None]) -> list[str]:
    """detect_language over many texts."""
    return [detect_language(text) for text in texts]

"""Attribute lexicons: find an editable attribute in a caption and rewrite it to make a later frame.

    >>> from t3.lexicon import find_attributes, GROUPS
    >>> cap = "The image shows a large red circle in the top left corner of a dimly lit room."
    >>> [(GROUPS[m.group].name, m.text) for m in find_attributes(cap)]
    [('size', 'large'), ('colour', 'red'), ('shape', 'circle'), ('position', 'top left'), ('lighting', 'dimly lit')]

The paper edited captions with GPT-4o; we cannot call an online model, so we use hand-written
lexicons. A *group* is one attribute (colour, lighting ...). Its *forms* are parallel lists of
surface words: a word can only be replaced by another word of the same form ("dimly lit" ->
"brightly lit", "dim" -> "bright"), which keeps the edited caption grammatical. For ordinal groups
the words of a form are ordered from low to high, so a change has a direction ("becomes brighter").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Group:
    """One attribute. `forms`: parallel word lists; ordinal groups list words low -> high."""

    name: str
    noun: str  # used in questions: "How does the {noun} change?"
    forms: tuple[tuple[str, ...], ...]
    up: str = ""  # ordinal only: "brighter"
    down: str = ""  # ordinal only: "dimmer"

    @property
    def ordinal(self) -> bool:
        return bool(self.up)


def _g(name, noun, forms, up="", down=""):
    return Group(name, noun, tuple(tuple(f.split("|")) for f in forms), up, down)


GROUPS: tuple[Group, ...] = (
    _g("size", "size", ["tiny|small|medium-sized|large|huge", "little|big", "short|tall", "narrow|wide",
                        "thin|thick"], up="larger", down="smaller"),
    _g("colour", "colour", [
        "red|blue|green|yellow|orange|purple|pink|brown|black|white|gray|cyan|magenta|teal",
        "grey|beige|golden|silver|navy|maroon|violet|turquoise",
    ]),
    _g("shape", "shape", ["circle|square|triangle|star|hexagon|diamond|pentagon|rectangle|oval|heart|cross",
                          "circles|squares|triangles|stars|hexagons|diamonds|pentagons|rectangles|ovals"]),
    _g("position", "position", [  # the embedded world's 3x3 grid, as its captions phrase it
        "top left|top middle|top right|middle left|middle right|bottom left|bottom middle|bottom right",
        "upper left|upper middle|upper right|lower left|lower middle|lower right",
        "top center|bottom center|center left|center right",
        "left side|right side",
        "left edge|right edge",
    ]),
    _g("lighting", "lighting", [
        "dark|dim|bright",
        "dimly lit|softly lit|brightly lit",
        "dimly-lit|softly-lit|brightly-lit",
        "poorly lit|well lit",
        "poorly-lit|well-lit",
        "darkly|dimly|brightly",
        "shadowy|sunlit",
        "dark background|light background",
        "dim backdrop|bright backdrop",
        "dark gray|light gray",
        # "light" alone is too ambiguous (a light, light blue); these contexts are the world's
        "dark room|light room", "dark scene|light scene", "dark setting|light setting", "dark frame|light frame",
        "dark space|light space", "dark image|light image", "is dark|is light",
    ], up="brighter", down="dimmer"),
    _g("weather", "weather", ["sunny|cloudy|rainy|snowy|foggy|stormy|overcast|windy",
                              "sunshine|rain|snow|fog"]),
    _g("time", "time of day", ["morning|afternoon|evening|night", "dawn|noon|dusk|midnight",
                               "daytime|nighttime", "sunrise|sunset"]),
    _g("openness", "state", ["closed|half-open|open", "shut|ajar"], up="more open", down="more closed"),
    _g("fullness", "fullness", ["empty|half-full|full", "empty|half-empty|full"], up="fuller", down="emptier"),
    _g("fit", "fit", ["loose|tight", "loose-fitting|tight-fitting", "baggy|snug"], up="tighter", down="looser"),
    _g("temperature", "temperature", ["cold|cool|warm|hot", "icy|steaming"], up="warmer", down="colder"),
    _g("wetness", "surface", ["dry|damp|wet", "dry|soaked"], up="wetter", down="drier"),
    _g("cleanliness", "cleanliness", ["dirty|clean", "messy|tidy", "muddy|spotless"], up="cleaner", down="dirtier"),
    _g("power", "state", ["off|on"]),  # only matched as "turned on/off" (see _SPECIAL)
    _g("age", "age", ["new|old", "young|old", "modern|ancient"]),
    _g("speed", "speed", ["slow|fast", "slowly|quickly"], up="faster", down="slower"),
    _g("crowd", "crowdedness", ["deserted|quiet|crowded|packed"], up="more crowded", down="emptier"),
)

# word (lowercase) -> list of (group index, form index, value index); words may be in several forms
_INDEX: dict[str, list[tuple[int, int, int]]] = {}
for _gi, _grp in enumerate(GROUPS):
    for _fi, _form in enumerate(_grp.forms):
        for _vi, _word in enumerate(_form):
            if _grp.name != "power":
                _INDEX.setdefault(_word, []).append((_gi, _fi, _vi))

# "on"/"off" are too common as prepositions; only "turned on" / "switched off" count.
_POWER = next(i for i, g in enumerate(GROUPS) if g.name == "power")
for _verb in ("turned", "switched"):
    for _vi, _w in enumerate(("off", "on")):
        _INDEX[f"{_verb} {_w}"] = [(_POWER, 0, _vi)]
# first word -> the two-word entries starting with it (all multi-word entries have two words)
_MULTI: dict[str, list[str]] = {}
for _w in _INDEX:
    if " " in _w:
        _MULTI.setdefault(_w.split(" ")[0], []).append(_w)
_WORD = re.compile(r"[a-z][a-z-]*")


class Match(NamedTuple):  # NamedTuple, not a dataclass: built for every attribute word of a corpus
    """An attribute word found in a caption: caption[start:end] == text."""

    group: int
    form: int
    value: int
    start: int
    end: int
    text: str


def scan(text: str):
    """Yield (start, end, group, form, value) for each attribute word of `text`, left to right.

    A token scan with dictionary lookups: an alternation regex over all lexicon words is ~10x slower
    on a large corpus, and this runs once per caption.
    """
    low = text.lower()
    skip = 0
    index, multi = _INDEX, _MULTI
    for m in _WORD.finditer(low):
        s = m.start()
        if s < skip:
            continue
        w = m.group()
        if w in multi:
            for entry in multi[w]:
                e = s + len(entry)
                if low.startswith(entry, s) and not (low[e:e + 1].isalnum() or low[e:e + 1] == "-"):
                    gi, fi, vi = index[entry][0]
                    if gi == _POWER:  # the attribute word is on/off, not the verb
                        s = e - len(entry.split(" ")[1])
                    yield s, e, gi, fi, vi
                    skip = e
                    break
            else:
                if w in index:
                    yield (s, m.end()) + index[w][0]
        elif w in index:
            yield (s, m.end()) + index[w][0]


def find_attributes(caption: str) -> list[Match]:
    """All attribute words in a caption, left to right."""
    return [Match(g, f, v, s, e, caption[s:e]) for s, e, g, f, v in scan(caption)]


def word(m: Match, value: int) -> str:
    """The word for `value` in m's form, with m's capitalisation."""
    w = GROUPS[m.group].forms[m.form][value]
    if m.text[:1].isupper():
        w = w[:1].upper() + w[1:]
    return w


def edit(caption: str, m: Match, value: int) -> str:
    """The caption with the matched word replaced by `value` of the same form."""
    return caption[: m.start] + word(m, value) + caption[m.end :]


def plain(m: Match, value: int) -> str:
    """The lowercase word for `value` (used in options such as "from dim to bright")."""
    return GROUPS[m.group].forms[m.form][value]

"""Glosses: the sign names of the official 250-sign map, checked and made readable."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache

from islr.text.errors import GlossError

# Sign names that run words together, as written in the sign map; the plain backend
# spells them out so its sentence is readable. Everything else is kept as is.
READABLE: dict[str, str] = {
    "callonphone": "call on the phone",
    "frenchfries": "french fries",
    "glasswindow": "glass window",
    "haveto": "have to",
    "hesheit": "he/she/it",
    "icecream": "ice cream",
    "minemy": "my/mine",
    "thankyou": "thank you",
    "weus": "we/us",
}


@cache
def sign_names() -> tuple[str, ...]:
    """The 250 sign names, in class-index order."""
    from islr.data.format import index_to_sign

    return tuple(index_to_sign())


@cache
def _by_lower() -> dict[str, str]:
    # Case-insensitive lookup: a user may type `tv` for the sign `TV`.
    return {name.lower(): name for name in sign_names()}


def check_glosses(glosses: Iterable[str]) -> list[str]:
    """Return the glosses as canonical sign names; raise `GlossError` listing any that
    are not in the 250-sign map (with close matches), or when there are none."""
    items = [g.strip() for g in glosses if g and g.strip()]
    if not items:
        raise GlossError("no glosses given: pass one or more sign names, e.g. `hello thankyou`")
    lookup = _by_lower()
    unknown = [g for g in items if g.lower() not in lookup]
    if unknown:
        hints = []
        for g in unknown:
            close = difflib.get_close_matches(g.lower(), lookup, n=3, cutoff=0.7)
            if close:
                hints.append(f"{g!r} (did you mean {', '.join(lookup[c] for c in close)}?)")
            else:
                hints.append(repr(g))
        raise GlossError(
            f"{len(unknown)} gloss(es) not in the 250-sign map: {', '.join(hints)}. "
            "Glosses are the sign names of sign_to_prediction_index_map.json "
            "(`islr.data.format.load_sign_map()`)"
        )
    return [lookup[g.lower()] for g in items]


def plain_sentence(glosses: Iterable[str]) -> str:
    """The model-free sentence: readable glosses joined, capitalised, with a period."""
    words = " ".join(READABLE.get(g, g) for g in glosses).strip()
    if not words:
        return ""
    return words[0].upper() + words[1:] + ("" if words[-1] in ".!?" else ".")

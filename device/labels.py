"""The seven FER-2013 expressions, in the dataset's label order (0..6)."""

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Width of every model's score vector; kept here, beside the labels, so code
# that only reads scores need not import Keras to learn it.
NUM_CLASSES = len(EXPRESSIONS)

# How a guest is told an expression, on the kiosk's screen and on the phone page alike:
# "You look Scared" reads better than the dataset's "fear", and a guest who saw "Scared" on
# the screen finds the same word under the memoji in the gallery.
EXPRESSION_TITLES: dict[str, str] = {
    "angry": "Angry",
    "disgust": "Disgusted",
    "fear": "Scared",
    "happy": "Happy",
    "sad": "Sad",
    "surprise": "Surprised",
    "neutral": "Neutral",
}


def expression_title(expression: str) -> str:
    """The guest's word for ``expression`` (a label not in EXPRESSIONS: capitalised)."""
    return EXPRESSION_TITLES.get(expression, expression.capitalize())

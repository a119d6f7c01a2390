"""The seven FER-2013 expressions, in the dataset's label order (0..6)."""

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

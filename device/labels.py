"""The seven FER-2013 expressions, in the dataset's label order (0..6)."""

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Width of every model's score vector; kept here, beside the labels, so code
# that only reads scores need not import Keras to learn it.
NUM_CLASSES = len(EXPRESSIONS)

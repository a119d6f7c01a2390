"""One blueprint per concern: look, live, gallery, photo, the JSON API, and the operator login."""

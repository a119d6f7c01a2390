"""Counting in words: the journal, the terminal and the page say "1 memoji", "2 memojis"."""


def how_many(count: int, thing: str) -> str:
    """"1 memoji", "3 memojis", "0 camera photos": ``thing`` in the singular."""
    return f"{count} {thing}{'' if count == 1 else 's'}"

"""The one exception type for a user's mistake: the CLI prints it as a single line and exits 2."""


class UserError(Exception):
    """Bad input, bad config or a missing resource, described in one line for the user."""

    def __init__(self, message: str, path=None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.detail = message
        super().__init__(self.format())

    def format(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.detail}"

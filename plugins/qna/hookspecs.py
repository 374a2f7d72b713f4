"""Hooks the qna plugin opens for other plugins (through the historic `add_hookspecs`)."""

from core import hookspec


@hookspec
def qna_answered(app, qna, order) -> None:
    """A question was answered and the transaction committed.

    `qna` is the `plugins.qna.models.QNA` (answer, suggestion, tags loaded) and
    `order` the completed `QNAOrder`. May be a coroutine; each implementation
    runs isolated, so a failing one is logged and cannot undo the answer.
    """

"""QnA: students ask, coaches take an order (24 h, at most 3 at once) and answer."""

from core import PluginSpec

spec = PluginSpec(name="qna", default_prefix="/qna", description=__doc__.strip())

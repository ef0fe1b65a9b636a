"""Chat completions: an embedded GGUF model (llama.cpp) or an upstream OpenAI-compatible server, behind one
async interface (`ChatEngine`), and the HTTP-free use case (`ChatService`) shared by the chat route and the
voice pipelines."""

from voxgate.llm.engine import ChatEngine
from voxgate.llm.request import ChatTurn
from voxgate.llm.service import ChatService

__all__ = ["ChatEngine", "ChatService", "ChatTurn"]

"""`voxport serve`: many voices, many clients, over Wyoming (Home Assistant) and HTTP (OpenAI, Piper).

Needs the `server` extra (`pip install voxport[server]`).
"""

from voxport.server.piper_voices import PiperVoiceError
from voxport.server.registry import Busy, ShuttingDown, UnknownVoice, VoicePool, VoiceRegistry, VoiceSpec

__all__ = ["Busy", "PiperVoiceError", "ShuttingDown", "UnknownVoice", "VoicePool", "VoiceRegistry", "VoiceSpec"]

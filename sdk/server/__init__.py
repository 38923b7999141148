"""`voxport serve`: many voices, many clients, over Wyoming (Home Assistant) and HTTP (OpenAI, Piper).

Needs the `server` extra (`pip install voxport[server]`).
"""

from voxport.server.registry import Busy, UnknownVoice, VoicePool, VoiceRegistry, VoiceSpec

__all__ = ["Busy", "UnknownVoice", "VoicePool", "VoiceRegistry", "VoiceSpec"]

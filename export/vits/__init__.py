"""VITS in torch, laid out like jaywalnut310/vits and Piper so their weights load by name."""

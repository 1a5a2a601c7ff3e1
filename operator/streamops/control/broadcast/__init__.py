"""Broadcast: its status from its streams' facts (work in progress: issue 41, item 2)."""

"""`kubectl streamops`: the kubectl plugin (entry point `kubectl-streamops`, docs/design/kubectl-plugin.md).

One module per command group (status, stream_key, playback, recording), the text they print in
render.py (pure: objects in, text out), the API client in connection.py, the port-forward child in
port_forward.py, the command line in main.py.
"""

"""The daemon: wires sampling, history and the HTTP endpoint; handles signals."""

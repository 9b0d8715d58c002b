"""Receiver types, one module each (``slack``, ``webhook``, ``email``), listed in ``registry``; ``base`` is what
each one is, ``http`` the common part of the types that POST over HTTP."""

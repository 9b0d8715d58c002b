"""Reports of a period (``period``: a local day for the daily report): the schedule claims due periods
(``schedule``) -> one render child per period (``render`` starts ``render_child``, which runs ``produce``: the
model from history (``build``, ``model``), HTML (``html``, ``text``, ``charts``), PDF (``pdf``), CSV; files
named by ``files``) -> email (``mail``). ``job`` is the daemon's, ``cli`` the command line's entry point."""

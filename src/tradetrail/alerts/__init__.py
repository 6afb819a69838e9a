"""Alert rules and notifications (docs/ALERTS.md): a rules file (rules), the pure rule engine
(engine), the channels behind one Protocol (channels), the worker that sends and journals
`alert.sent` / `alert.failed` (dispatch), and the runner that follows a trail (runner).

It sits beside export, verify, index and reports: it reads the journal through `store` and
records through the writer's public `open()`, and never touches the trail directory itself."""

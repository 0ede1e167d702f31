"""PDF templates: storage and versions, data bindings in the caller scope, renders as jobs."""

"""Reports: scopes (what a report covers), pure renderers (HTML, PDF, CSV, JSON, BibTeX), services, pages."""

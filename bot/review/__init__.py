"""Reviews across calls: a host's calls (teacher, support agent) and single calls, as HTML/CSV."""

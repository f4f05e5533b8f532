"""Tables, plots and reports from recorded runs."""

"""IO with radios and the network; reuses protocols/ (never imports gateway/)."""

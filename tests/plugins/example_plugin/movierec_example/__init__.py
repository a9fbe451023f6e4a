"""An example movierec algorithm plugin."""

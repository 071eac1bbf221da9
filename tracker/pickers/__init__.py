"""Searchable pickers of people, units and sources: what an actor may pick (`lists`), the JSON search
behind them (`views`, /pick/…) and the <select> a page renders for one (`widgets`)."""

"""``python -m tunepipe.sandbox``: what holds on this host (:func:`capabilities`)."""
import json

from tunepipe.sandbox import capabilities

print(json.dumps(capabilities(), indent=2))

"""Third floor: the BentoML scoring service, routing policy and batch rescoring."""

"""funclib.verify: certified Lipschitz bounds of networks built from catalog functions.

The LipSDP formulations live here (issue: verify); this package ships empty until then.
"""

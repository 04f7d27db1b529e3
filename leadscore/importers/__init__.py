"""Importers: CRM exports (X Education, UCI bank marketing, CRM opportunities, your own) into
the data contract, so the whole pipeline runs on real data, not only on the simulator.

One generic engine, driven by a mapping file per kind of export (configs/importers/*.yaml),
rather than code per kind: the three public sets differ only in what their mappings say.
"""

from leadscore.importers.engine import ImportReport, import_export
from leadscore.importers.mapping import ImportMapping, known_kinds, load_mapping, mapping_path

__all__ = [
    "ImportMapping",
    "ImportReport",
    "import_export",
    "known_kinds",
    "load_mapping",
    "mapping_path",
]

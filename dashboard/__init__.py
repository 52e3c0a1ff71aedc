"""Children's social care analytics for English councils.

The core (warehouse, policy, audit, workbench) never imports Streamlit; ``dashboard.app`` is the only
place that does. See docs/architecture.md.
"""

__version__ = "0.1.0"

"""What the notebooks show: ours beside the paper's, the covariance appendix, figures and reports."""

"""Population model of ketamine use, dependence, treatment and relapse (see ``ketasim.epidemiology``)."""

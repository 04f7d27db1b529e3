"""`leadscore monitor`: is the champion still fit for the leads it scores now?"""

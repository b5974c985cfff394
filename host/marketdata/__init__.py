"""Market data: the ITCH 5.0 feed built from engine events, published in MoldUDP64
(publisher.py), the services a subscriber recovers from (re-requests, snapshots,
heartbeats: service.py), the session across a restart (resume.py), and a book
rebuilt from ITCH (itch_book.py). See docs/marketdata.md."""

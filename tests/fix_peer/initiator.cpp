// A QuickFIX (C++) FIX 4.4 initiator driven over stdin/stdout: the independent peer of
// Gatebook's FIX acceptor in tests/test_fix*.py. The test compiles it once (g++, Debian's
// libquickfix-dev) into its cache, keyed by this file's hash.
//
// Usage: initiator CONFIG HOST PORT SENDER USERNAME PASSWORD LOGDIR
// Commands, one a line:
//   new CLORDID SYMBOL SIDE QTY ORDTYPE PRICE|- STOPPX|- TIF|-
//   cancel CLORDID ORIGCLORDID SYMBOL SIDE
//   replace CLORDID ORIGCLORDID SYMBOL SIDE QTY ORDTYPE PRICE|-
//   mass CLORDID TYPE SYMBOL|-
//   raw TAG=VALUE|TAG=VALUE...      (an application message with exactly these body fields)
//   drop                            (close the TCP connection without a Logout)
//   status | quit
// Out, one a line: LOGON, LOGOUT, ADMIN <msg>, APP <msg> (fields separated by '|'),
// STATUS loggedon=0|1 sender=N target=N, OK, ERR <why>.
#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/Message.h>
#include <quickfix/MessageStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>
#include <quickfix/fix44/NewOrderSingle.h>
#include <quickfix/fix44/OrderCancelRequest.h>
#include <quickfix/fix44/OrderCancelReplaceRequest.h>
#include <quickfix/fix44/OrderMassCancelRequest.h>

#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

static std::mutex out_lock;

static void say(const std::string& line) {
    std::lock_guard<std::mutex> guard(out_lock);
    std::cout << line << std::endl;
}

static std::string bars(const FIX::Message& message) {
    std::string text = message.toString();
    for (char& c : text)
        if (c == '\x01') c = '|';
    return text;
}

class Peer : public FIX::Application {
public:
    Peer(std::string username, std::string password)
        : username_(std::move(username)), password_(std::move(password)) {}
    FIX::SessionID session;

    void onCreate(const FIX::SessionID& id) override { session = id; }
    void onLogon(const FIX::SessionID&) override { say("LOGON"); }
    void onLogout(const FIX::SessionID&) override { say("LOGOUT"); }
    void toAdmin(FIX::Message& message, const FIX::SessionID&) override {
        if (message.getHeader().getField(FIX::FIELD::MsgType) == "A") {
            message.setField(553, username_);
            message.setField(554, password_);
        }
    }
    void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
    void fromAdmin(const FIX::Message& message, const FIX::SessionID&)
        throw(FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
              FIX::RejectLogon) override { say("ADMIN " + bars(message)); }
    void fromApp(const FIX::Message& message, const FIX::SessionID&)
        throw(FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
              FIX::UnsupportedMessageType) override { say("APP " + bars(message)); }

private:
    std::string username_, password_;
};

static std::string fill(std::string text, const std::string& key, const std::string& value) {
    for (size_t at; (at = text.find(key)) != std::string::npos;)
        text.replace(at, key.size(), value);
    return text;
}

static void order_fields(FIX::Message& m, const std::string& symbol, const std::string& side,
                         const std::string& qty, const std::string& type,
                         const std::string& price) {
    m.setField(FIX::Symbol(symbol));
    m.setField(FIX::Side(side[0]));
    m.setField(FIX::TransactTime());
    if (!qty.empty()) m.setField(38, qty);
    if (!type.empty()) m.setField(FIX::OrdType(type[0]));
    if (!price.empty() && price != "-") m.setField(44, price);
}

static bool command(Peer& peer, const std::string& line) {
    std::istringstream words(line);
    std::string verb;
    words >> verb;
    FIX::Session* session = FIX::Session::lookupSession(peer.session);
    if (verb == "quit") return false;
    if (verb == "status") {
        std::ostringstream out;
        out << "STATUS loggedon=" << (session && session->isLoggedOn())
            << " sender=" << (session ? session->getExpectedSenderNum() : 0)
            << " target=" << (session ? session->getExpectedTargetNum() : 0);
        say(out.str());
        return true;
    }
    if (verb == "drop") {
        if (session) session->disconnect();
        say("OK");
        return true;
    }
    FIX::Message message;
    if (verb == "new") {
        std::string id, symbol, side, qty, type, price, stop, tif;
        words >> id >> symbol >> side >> qty >> type >> price >> stop >> tif;
        message = FIX44::NewOrderSingle();
        message.setField(FIX::ClOrdID(id));
        order_fields(message, symbol, side, qty, type, price);
        if (stop != "-") message.setField(99, stop);
        if (tif != "-") message.setField(FIX::TimeInForce(tif[0]));
    } else if (verb == "cancel") {
        std::string id, orig, symbol, side;
        words >> id >> orig >> symbol >> side;
        message = FIX44::OrderCancelRequest();
        message.setField(FIX::ClOrdID(id));
        message.setField(FIX::OrigClOrdID(orig));
        order_fields(message, symbol, side, "", "", "-");
    } else if (verb == "replace") {
        std::string id, orig, symbol, side, qty, type, price;
        words >> id >> orig >> symbol >> side >> qty >> type >> price;
        message = FIX44::OrderCancelReplaceRequest();
        message.setField(FIX::ClOrdID(id));
        message.setField(FIX::OrigClOrdID(orig));
        order_fields(message, symbol, side, qty, type, price);
    } else if (verb == "mass") {
        std::string id, type, symbol;
        words >> id >> type >> symbol;
        message = FIX44::OrderMassCancelRequest();
        message.setField(FIX::ClOrdID(id));
        message.setField(FIX::MassCancelRequestType(type[0]));
        message.setField(FIX::TransactTime());
        if (symbol != "-") message.setField(FIX::Symbol(symbol));
    } else if (verb == "raw") {
        std::string fields;
        words >> fields;
        std::istringstream pairs(fields);
        std::string pair;
        while (std::getline(pairs, pair, '|')) {
            size_t eq = pair.find('=');
            int tag = std::stoi(pair.substr(0, eq));
            if (tag == 35) message.getHeader().setField(35, pair.substr(eq + 1));
            else message.setField(tag, pair.substr(eq + 1));
        }
    } else {
        say("ERR unknown command " + verb);
        return true;
    }
    try {
        say(FIX::Session::sendToTarget(message, peer.session) ? "OK" : "ERR not sent");
    } catch (std::exception& error) {
        say(std::string("ERR ") + error.what());
    }
    return true;
}

int main(int argc, char** argv) {
    if (argc != 8) {
        std::cerr << "usage: initiator CONFIG HOST PORT SENDER USERNAME PASSWORD LOGDIR\n";
        return 2;
    }
    std::ifstream file(argv[1]);
    std::stringstream text;
    text << file.rdbuf();
    std::string config = fill(fill(fill(fill(text.str(), "${HOST}", argv[2]), "${PORT}",
                                        argv[3]), "${SENDER}", argv[4]), "${DIR}", argv[7]);
    std::istringstream stream(config);
    try {
        FIX::SessionSettings settings(stream);
        Peer peer(argv[5], argv[6]);
        FIX::MemoryStoreFactory store;
        FIX::FileLogFactory log(settings);
        FIX::SocketInitiator initiator(peer, store, settings, log);
        initiator.start();
        say("STARTED");
        for (std::string line; std::getline(std::cin, line);)
            if (!line.empty() && !command(peer, line)) break;
        initiator.stop();
    } catch (std::exception& error) {
        std::cerr << "initiator: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
